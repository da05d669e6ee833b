"""The one instruction-set decision: every kernel family runs the level chosen once per process.

Each case runs in a subprocess, since the level is decided at the first import of sigcy.
"""
import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).parent
_spec = importlib.util.spec_from_file_location("_sigcy_tests_ulp_dispatch", HERE / "_ulp.py")
_ulp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_ulp)

LEVELS = ("baseline", "avx2", "avx512")


def _run(script, value):
    env = dict(os.environ)
    env.pop("SIGCY_DISPATCH", None)
    if value is not None:
        env["SIGCY_DISPATCH"] = value
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=300, cwd=HERE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _cpu_level():
    """The best level this CPU supports by its /proc/cpuinfo flags (None: unknown)."""
    flags = _ulp.cpu_flags()
    if flags is None:
        return None
    return max((lvl for lvl in LEVELS if _ulp.CPU_NEEDS[lvl] <= flags), key=LEVELS.index)


_INFO = ("import json, sigcy; from sigcy._core import _dispatch; info = sigcy.build_info(); "
         "info['all_levels_built'] = _dispatch.ALL_LEVELS_BUILT; print(json.dumps(info))")


@pytest.mark.parametrize("value", [None, "", "baseline", "avx2", "avx512", "unknown"])
def test_every_family_runs_the_one_level(value):
    info = _run(_INFO, value)
    level, kernels = info["dispatch"], info["kernels"]
    assert level in LEVELS
    assert set(kernels) == {"ufuncs", "rows", "backward_rows", "gemm"}
    cpu = _cpu_level()
    wanted = value if value in LEVELS else "avx512"
    if cpu is not None:
        # the lower of what was asked for and what the CPU has
        assert level == min(wanted, cpu, key=LEVELS.index)
    # a family runs the level or, built without it, a lower variant: never a higher one
    for name, variant in kernels.items():
        assert LEVELS.index(variant) <= LEVELS.index(level), (name, variant, level)
    if info["all_levels_built"]:
        # the GCC x86-64 build compiles every level for every family
        assert kernels == {"ufuncs": level, "rows": level, "backward_rows": level,
                           "gemm": level}


def test_level_is_decided_once_per_process():
    # a module imported after SIGCY_DISPATCH changed still runs the level of the first import
    script = ("import json, os, sigcy; first = sigcy.build_info(); "
              "os.environ['SIGCY_DISPATCH'] = 'baseline'; "
              "from sigcy._core import _gemm; "
              "print(json.dumps([first['dispatch'], first['kernels']['gemm'], _gemm.KERNELS]))")
    first_level, first_gemm, later_gemm = _run(script, "avx2")
    assert later_gemm == first_gemm
    if _cpu_level() in ("avx2", "avx512"):
        assert first_level == "avx2"
