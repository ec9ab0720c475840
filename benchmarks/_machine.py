"""What the benchmarks record about the machine they ran on (shared by the scripts here)."""

import platform


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cache_sizes() -> dict:
    """CPU cache sizes of core 0 (Linux sysfs): ``{"L1d": "32K", "L2": "1024K", "L3": "32768K", ...}``,
    with the CPUs sharing each level (``"L3_shared_cpus": "0-1"``); empty where sysfs is not there."""
    import glob
    import os

    out = {}
    for d in sorted(glob.glob("/sys/devices/system/cpu/cpu0/cache/index*")):
        try:
            read = lambda name: open(os.path.join(d, name)).read().strip()  # noqa: E731
            level, kind = read("level"), read("type")
            name = f"L{level}" + {"Data": "d", "Instruction": "i"}.get(kind, "")
            out[name] = read("size")
            out[name + "_shared_cpus"] = read("shared_cpu_list")
        except OSError:
            continue
    return out


def repo_relative(path) -> str:
    """``path`` relative to the repository root (results files name no absolute path of the machine)."""
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.relpath(os.path.abspath(path), root)
