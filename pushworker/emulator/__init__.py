"""A local Xiaomi Push server over real HTTP, with fault injection, for tests and benchmarks."""

from .apps import ANDROID, IOS, EmulatorApp, apps_from_env
from .faults import PRODUCTION, SANDBOX, Faults
from .server import Emulator

__all__ = [
    "ANDROID",
    "IOS",
    "PRODUCTION",
    "SANDBOX",
    "Emulator",
    "EmulatorApp",
    "Faults",
    "apps_from_env",
]
