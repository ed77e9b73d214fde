"""Time the README's quick start from a fresh folder: train, export, index, and serve until the page answers.

    python benchmarks/quickstart_time.py [--work-dir DIR] [--port 8765] [--out benchmarks/results/quickstart_time.json]
                                         [--cfg-options key=value ...]

The commands are read from README.md's "Quick start" section (its first two ```bash blocks) and run as
written, in order, in a new folder DIR (default: a temporary one) holding links to this checkout's m5mm/,
tools/ and configs/: the demo catalogue is generated there by the training command, as on a fresh clone.
The environment steps (venv, activate, pip install) are not run: this script runs in an installed
environment. tools/serve.py is started in the background and timed until GET / answers 200 and a text
search answers, then stopped. --cfg-options are appended to the training command (e.g. seed=1 for a
spread over seeds). Writes the seconds of each step, the whole, the load average before and after, the
trained model's retrieval results and its size to JSON.
"""
import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from m5mm.utils.doc_commands import doc_commands  # noqa: E402

ENVIRONMENT_STEPS = ('python3 -m venv', '. ', 'source ', 'pip ')
LINKED = ('m5mm', 'tools', 'configs')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--work-dir', default=None, help='a new folder to run in (default: a temporary one)')
    parser.add_argument('--port', type=int, default=8765, help='port of tools/serve.py (the README uses 8000)')
    parser.add_argument('--timeout', type=float, default=3600, help='seconds allowed per step')
    parser.add_argument('--out', default=str(REPO / 'benchmarks' / 'results' / 'quickstart_time.json'))
    parser.add_argument('--cfg-options', nargs='+', default=[], help='appended to the training command')
    return parser.parse_args(argv)


def quickstart_steps(readme: Path = REPO / 'README.md') -> list:
    """The command steps of the quick start's first two bash blocks, the environment steps left out."""
    commands = [c for c in doc_commands(str(readme)) if c.section == 'Quick start']
    lines = sorted({c.line for c in commands})[:2]
    return [c.text for c in commands if c.line in lines and not c.text.startswith(ENVIRONMENT_STEPS)]


def _argv(step: str, cfg_options) -> list:
    argv = shlex.split(step)
    if argv[0] in ('python', 'python3'):
        argv[0] = sys.executable
    if 'tools/train.py' in argv and cfg_options:
        argv += ['--cfg-options', *cfg_options]
    return argv


def _run(argv: list, cwd: Path, log: Path, timeout: float) -> float:
    start = time.perf_counter()
    with open(log, 'w') as handle:
        proc = subprocess.run(argv, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT, timeout=timeout)
    if proc.returncode:
        sys.exit(f'{shlex.join(argv)} failed ({proc.returncode}); its output: {log}\n' + log.read_text()[-3000:])
    return time.perf_counter() - start


def _serve(argv: list, cwd: Path, log: Path, port: int, timeout: float) -> dict:
    """Start the service, time until the page and a search answer, stop it."""
    import httpx
    argv = argv + ['--port', str(port)]
    start = time.perf_counter()
    handle = open(log, 'w')
    proc = subprocess.Popen(argv, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT)
    try:
        base, page = f'http://127.0.0.1:{port}', None
        while time.perf_counter() - start < timeout:
            if proc.poll() is not None:
                sys.exit(f'{shlex.join(argv)} exited ({proc.returncode}); its output: {log}\n'
                         + log.read_text()[-3000:])
            try:
                if httpx.get(f'{base}/', timeout=5).status_code == 200:
                    page = time.perf_counter() - start
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        if page is None:
            sys.exit(f'the page did not answer within {timeout} s; output: {log}')
        hits = httpx.post(f'{base}/search', json=dict(text='red shoes', k=5), timeout=60)
        hits.raise_for_status()
        return dict(seconds=page, search_seconds=time.perf_counter() - start,
                    top_hits=[(h['title'], h['category']) for h in hits.json()['results']])
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        handle.close()


def _train_results(cwd: Path, step: str) -> dict:
    """The training's results.json (printed query-set evaluation) and summary.json, from its work dir."""
    config = next(w for w in shlex.split(step) if w.endswith('.py') and 'configs/' in w)
    work_dir = cwd / 'work_dirs' / Path(config).stem
    out = {}
    for name in ('results.json', 'summary.json'):
        if (work_dir / name).is_file():
            out[name] = json.loads((work_dir / name).read_text())
    out['checkpoint_mb'] = round(sum(f.stat().st_size for f in work_dir.rglob('*') if f.is_file()) / 2**20, 1)
    return out


def main(argv=None) -> dict:
    args = parse_args(argv)
    cwd = Path(args.work_dir or tempfile.mkdtemp(prefix='m5mm_quickstart_'))
    cwd.mkdir(parents=True, exist_ok=True)
    if any(cwd.iterdir()):
        sys.exit(f'{cwd} is not empty: the benchmark starts from a fresh folder')
    for name in LINKED:
        (cwd / name).symlink_to(REPO / name)
    steps = quickstart_steps()
    load_before = os.getloadavg()
    rows, start = [], time.perf_counter()
    for number, step in enumerate(steps, 1):
        argv = _argv(step, args.cfg_options)
        name = Path(next((w for w in argv if w.endswith('.py')), argv[0])).stem
        log = cwd / f'{number}_{name}.log'
        print(f'[{number}/{len(steps)}] {step}   (output: {log})', flush=True)
        if name == 'serve':
            row = dict(step=step, **_serve(argv, cwd, log, args.port, args.timeout))
        else:
            row = dict(step=step, seconds=_run(argv, cwd, log, args.timeout))
        if name == 'train':
            row.update(_train_results(cwd, step))
        rows.append(row)
        print(f'      {row["seconds"]:.1f} s', flush=True)
    total = time.perf_counter() - start
    result = dict(readme_steps=steps, cfg_options=args.cfg_options, steps=rows, total_seconds=round(total, 1),
                  load_average_before=load_before, load_average_after=os.getloadavg(), cpu_count=os.cpu_count(),
                  machine=platform.machine(), python=platform.python_version(), work_dir=str(cwd),
                  date=time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime()))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1, default=str))
    print(f'total {total:.1f} s (load average before {load_before}, after {result["load_average_after"]}); '
          f'-> {args.out}')
    return result


if __name__ == '__main__':
    main()
