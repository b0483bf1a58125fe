"""The process sandbox for untrusted experiment code.

probe.py detects what the machine allows (namespaces, cgroups, rlimits, GPUs); env.py decides what a run
is given (variables, visible paths, GPUs); capture.py reads its output; run.py owns its life (cgroups,
start, kill tree); tree.py walks, hands over and watches the writable folders; boot.py runs inside the
namespaces just before the experiment; report.py says what is enforced (for the tool's answer and
`doctor`). Where the kernel refuses a protection the run still happens and the result says what was missing.
"""

from agent_scientist.sandbox.capture import Capture
from agent_scientist.sandbox.env import clean_env, is_credential_like, select_gpus
from agent_scientist.sandbox.probe import Capabilities, Gpu, detect
from agent_scientist.sandbox.run import (
    MB,
    PROTECTIONS,
    SANDBOX_UID,
    Sandboxed,
    SandboxResult,
    run_sandboxed,
    start_sandboxed,
)
from agent_scientist.sandbox.tree import iter_tree

__all__ = ["MB", "PROTECTIONS", "SANDBOX_UID", "Capabilities", "Capture", "Gpu", "SandboxResult", "Sandboxed", "clean_env",
           "detect", "is_credential_like", "iter_tree", "run_sandboxed", "select_gpus",
           "start_sandboxed"]
