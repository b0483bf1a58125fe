"""`agent-scientist eval`: question sets through the research agent, scored as the field reports it."""
