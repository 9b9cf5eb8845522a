"""`llmbench doctor` and honest placement. The verdicts are judged from facts, so every
combination (a CPU-only build beside a GPU, a container that hides PIDs) is tested here
without a GPU; the facts themselves are this machine's."""

import json
import subprocess
import sys

import pytest

from llmbench.engine.doctor import FAIL, INFO, OK, WARN, gather, verdicts
from llmbench.engine.runtime.backends.llama_cpp import CUDA_REBUILD
from llmbench.engine.runtime.events import Loaded, Stats
from llmbench.engine.runtime.memory_split import gpu_buffers_mib, llama_placement
from tests.helpers import cli

H100 = {"index": 0, "name": "NVIDIA H100 80GB HBM3", "total_bytes": 80 * 2**30, "free_bytes": 79 * 2**30}


def _facts(**changes) -> dict:
    """A CPU machine's facts as `gather` gives them, with ``changes`` merged in."""
    facts = {
        "llama_cpp": {"version": "0.3.36", "gpu_offload": False, "backends": ["CPU"], "amx": False},
        "torch": {"version": "2.13.0+cpu", "cuda": None, "cuda_available": False, "devices": []},
        "kernels": {"bitsandbytes": "0.50.2", "optimum-quanto": None, "torchao": None, "gptqmodel": None,
                    "autoawq": None},
        "nvml": {"problem": "NVML finds no NVIDIA driver (NVML Shared Library Not Found)", "driver": None, "gpus": []},
        "own_pid_namespace": False,
        "machine": {"physical_cores": 2, "logical_cores": 2, "ram_bytes": 24 * 2**30,
                    "ram_available_bytes": 20 * 2**30, "cgroup_limit_bytes": None, "cpu_amx": False},
        "paths": {"data": {"path": "/d", "exists": True, "free_bytes": 50 * 2**30}},
        "demo_models": {"smollm2": "/d/models/smollm2.gguf", "gemma3-270m": None},
    }  # fmt: skip
    for key, value in changes.items():
        facts[key] = {**facts[key], **value} if isinstance(value, dict) else value
    return facts


def _find(checks, area: str, text: str):
    found = [c for c in checks if c.area == area and text in c.found]
    assert found, [c.found for c in checks if c.area == area]
    return found[0]


def test_a_cpu_only_build_beside_a_gpu_fails_with_the_rebuild():
    checks = verdicts(_facts(nvml={"problem": None, "driver": "560.35", "gpus": [H100]}))
    c = _find(checks, "llama.cpp", "CPU only, but an NVIDIA GPU is present (NVIDIA H100")
    assert c.verdict == FAIL and c.fix == f"rebuild with {CUDA_REBUILD}"
    torch = _find(checks, "torch", "but an NVIDIA GPU is present")
    assert torch.verdict == WARN and "CUDA build of torch" in torch.fix
    gpu = _find(checks, "GPU", "GPU 0: NVIDIA H100 80GB HBM3, 80.0 GiB, 79.0 GiB free (driver 560.35)")
    assert gpu.verdict == OK and _find(checks, "VRAM", "from NVML").verdict == OK


def test_a_gpu_build_on_a_gpu_server_is_ok():
    checks = verdicts(_facts(
        llama_cpp={"gpu_offload": True, "backends": ["CPU", "CUDA"]},
        torch={"version": "2.13.0+cu128", "cuda": "12.8", "cuda_available": True, "devices": ["NVIDIA H100"]},
        nvml={"problem": None, "driver": "560.35", "gpus": [H100]},
    ))  # fmt: skip
    assert _find(checks, "llama.cpp", "built for CPU + CUDA: GPU offload supported").verdict == OK
    assert _find(checks, "torch", "CUDA 12.8: 1 device(s): NVIDIA H100").verdict == OK
    assert not [c for c in checks if c.verdict in (FAIL, WARN)]


def test_a_pid_namespace_container_is_told_and_the_engine_figures_named():
    checks = verdicts(_facts(own_pid_namespace=True, nvml={"problem": None, "driver": "560", "gpus": [H100]}))
    c = _find(checks, "VRAM", "PID-namespace container")
    assert c.verdict == WARN and "--pid=host" in c.fix and "llama.cpp buffers" in c.found


def test_no_driver_is_info_on_a_cpu_machine_and_a_warning_where_torch_sees_a_gpu():
    cpu = _find(verdicts(_facts()), "GPU", "no NVIDIA GPU visible: NVML finds no NVIDIA driver")
    assert cpu.verdict == INFO and cpu.fix is None
    odd = verdicts(_facts(torch={"cuda": "12.8", "cuda_available": True, "devices": ["NVIDIA H100"]}))
    assert _find(odd, "GPU", "no NVIDIA GPU visible").verdict == WARN


def test_limits_disk_and_missing_pieces_each_get_their_fix():
    checks = verdicts(_facts(
        machine={"cgroup_limit_bytes": 8 * 2**30},
        paths={"data": {"path": "/d", "exists": True, "free_bytes": 2**29}},
    ))  # fmt: skip
    assert _find(checks, "machine", "cgroup memory limit of 8.0 GiB").verdict == INFO
    assert _find(checks, "paths", "data: /d (0.5 GiB free)").verdict == WARN
    assert _find(checks, "models", "gemma3-270m: not pulled").fix == "llmbench models pull gemma3-270m"
    assert _find(checks, "kernels", "gptqmodel not installed").fix == "pip install gptqmodel"
    assert _find(checks, "kernels", "bitsandbytes 0.50.2: hf: ?quant=bnb8, bnb4").verdict == OK
    broken = verdicts(_facts(llama_cpp={"error": "No module named 'llama_cpp'"}))
    assert _find(broken, "llama.cpp", "not importable").verdict == FAIL


def test_doctor_reports_this_machine_as_it_is(registered):
    """The CLI on this machine, in JSON and as a table at 80 columns: its facts agree with
    llama.cpp and torch themselves, and the exit status follows the verdicts."""
    import llama_cpp
    import torch

    out = cli("doctor", "--format", "json")
    data = json.loads(out.stdout)
    facts, checks = data["facts"], data["checks"]
    assert facts["llama_cpp"]["gpu_offload"] == llama_cpp.llama_supports_gpu_offload()
    assert facts["torch"]["cuda_available"] == torch.cuda.is_available()
    assert {c["verdict"] for c in checks} <= {OK, INFO, WARN, FAIL}
    assert out.returncode == (1 if any(c["verdict"] == FAIL for c in checks) else 0)
    assert facts["demo_models"]["smollm2"], "the registered demo is found"
    if not facts["nvml"]["gpus"]:
        assert any(c["area"] == "GPU" and "no NVIDIA GPU visible" in c["found"] for c in checks)
    table = cli("doctor", env={"COLUMNS": "80"})
    assert all(len(line) <= 80 for line in table.stdout.splitlines()) and "llama.cpp" in table.stdout
    assert "| area | verdict | found | fix |" in cli("doctor", "--format", "md").stdout


def test_gather_needs_no_gpu_and_imports_nothing_into_the_engine_at_import():
    facts = gather()
    assert isinstance(facts["nvml"]["gpus"], list) and facts["machine"]["logical_cores"] >= 1
    code = "import sys, llmbench.engine.doctor; print(sorted({'torch', 'llama_cpp', 'textual'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "[]"


def test_a_pid_namespace_of_its_own_is_detected():
    code = "from llmbench.engine.util.gpu import own_pid_namespace; print(own_pid_namespace())"
    run = subprocess.run(["unshare", "--pid", "--fork", sys.executable, "-c", code], capture_output=True, text=True)
    if run.returncode != 0:
        pytest.skip(f"cannot unshare a PID namespace here: {run.stderr.strip()}")
    assert run.stdout.strip() == "True"


# ---------------------------------------------------------------- placement

LOG = [  # llama.cpp's load report on a CUDA build (src/llama-model.cpp, load_tensors)
    "load_tensors: offloading output layer to GPU\n",
    "load_tensors: offloading 29 repeating layers to GPU\n",
    "load_tensors: offloaded 31/31 layers to GPU\n",
    "load_tensors:        CUDA0 model buffer size =    68.06 MiB\n",
    "load_tensors:   CPU_Mapped model buffer size =    47.25 MiB\n",
    "llama_kv_cache:      CUDA0 KV buffer size =    45.00 MiB\n",
]


def test_placement_and_vram_come_from_llama_cpps_own_report():
    from llmbench.engine.runtime.memory_split import llama_buffers

    assert llama_placement(LOG) == "GPU 31/31 layers"
    assert llama_placement(["load_tensors: offloaded 0/31 layers to GPU\n"]) == "CPU (0/31 layers on the GPU)"
    assert llama_placement([]) == "CPU"
    assert gpu_buffers_mib(llama_buffers(LOG)) == pytest.approx(113.06)
    assert gpu_buffers_mib({"weights mapped": 47.0}) is None


@pytest.mark.parametrize(
    "nvml, buffers, torch_alloc, expected",
    [
        (500 * 2**20, {"weights on GPU": 68.0}, None, (500.0, "NVML")),
        (None, {"weights on GPU": 68.0, "KV cache (GPU)": 45.0}, None, (113.0, "llama.cpp buffers")),
        (None, None, 900.0, (900.0, "torch max allocated")),
        (None, {"weights mapped": 47.0}, None, (None, None)),
    ],
)
def test_vram_per_side_says_whose_figure_it_is(registered, nvml, buffers, torch_alloc, expected):
    import queue

    from llmbench.engine import models
    from llmbench.engine.runtime.params import GenParams
    from llmbench.engine.runtime.worker import ModelWorker

    w = ModelWorker("a", models.resolve("smollm2"), GenParams(), queue.Queue())
    w.peak_gpu = nvml
    w.loaded = Loaded(load_s=0.1, n_ctx=512, threads=2, buffers=buffers, placement="GPU 31/31 layers")
    done = w._complete(Stats(cuda_max_alloc_mib=torch_alloc))
    assert (done.peak_gpu_mib, done.vram_source) == expected and done.placement == "GPU 31/31 layers"


def test_gpu_layers_on_a_cpu_only_build_are_refused_not_run_on_the_cpu(registered):
    import llama_cpp

    if llama_cpp.llama_supports_gpu_offload():
        pytest.skip("this llama.cpp build offloads to a GPU")
    out = cli("duel", "--a", "smollm2", "--b", "smollm2", "--n-gpu-layers", "all", "--max-tokens", "4",
              "--prompt", "hi", "--no-record")  # fmt: skip
    text = out.stdout + out.stderr
    assert text.count("--n-gpu-layers all asks for the GPU, but this llama.cpp build has no GPU support") == 2
    assert "CMAKE_ARGS" in text and "Traceback" not in text


@pytest.mark.slow
async def test_the_doctor_page_opens_from_the_command_palette_at_80x24(registered):
    """Ctrl+P, "Doctor": the same checks as the CLI, gathered in a child process while
    the screen stays live; Esc closes it."""
    from llmbench.tui.app.app import LlmbenchApp
    from llmbench.tui.app.modals.doctor import DoctorScreen
    from tests.helpers import wait_for, wait_shown

    app = LlmbenchApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*"Doctor")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DoctorScreen), timeout=10)
        screen = app.screen
        await wait_for(pilot, lambda: screen.checks is not None, timeout=120)
        assert {"llama.cpp", "torch", "GPU", "machine", "paths", "models"} <= {c.area for c in screen.checks}
        await wait_shown(pilot, screen.query_one("#doctor-status"), "checks:")
        await wait_shown(pilot, screen.query_one("#doctor-table"), "llama.cpp")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, DoctorScreen), timeout=5)


def test_an_hf_models_placement_is_its_weights_by_device():
    import torch

    from llmbench.engine.runtime.backends.hf import hf_placement

    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 12))
    assert hf_placement(model) == "CPU"
    model[1].to("meta")  # a second device, as a device_map split gives (meta: any machine has it)
    assert hf_placement(model) == "meta 75% · cpu 25%"
    model[0].to("meta")
    assert hf_placement(model) == "GPU (meta)"


def test_doctor_says_whether_the_machine_is_quiet_enough_to_measure():
    quiet = {"others_cpus": 0.05, "cpus": 2, "usable": 2, "steal_cpus": 0.0, "window_s": 1.0}
    busy = {**quiet, "others_cpus": 0.98}
    machine = {"usable_cpus": 2, "cpus_from": "2 CPUs (cgroup quota 2 CPUs)"}
    checks = verdicts(_facts(machine={**machine, "host_load": quiet}))
    assert _find(checks, "quiet", "quiet enough to measure: host quiet: 0.05 of 2 CPUs").verdict == OK
    assert _find(checks, "CPUs", "threads auto: 2 CPUs (cgroup quota 2 CPUs)").verdict == OK
    c = _find(verdicts(_facts(machine={**machine, "host_load": busy})), "quiet", "not quiet enough to measure")
    assert c.verdict == WARN and "0.98 of 2 CPUs used by others" in c.found and "top" in c.fix
    assert _find(verdicts(_facts(machine={"host_load": None})), "quiet", "cannot be read").verdict == INFO
