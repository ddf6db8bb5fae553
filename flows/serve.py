"""Run silkwatch unattended: schedules as Prefect deployments, plus the processes they need.

``silkwatch serve`` calls :func:`supervise`, which

1. starts ``prefect server start`` on 127.0.0.1 as a child when no ``PREFECT_API_URL`` is set
   (Prefect's temporary server never fires schedules: measured in docs/operations.md) and
   waits for its ``/api/health``;
2. starts the runner as a second child, ``python -m flows.serve --config FILE``, which
   registers two deployments (``monitor`` every N minutes, ``digest`` daily at a local time)
   and executes their runs, each in a fresh subprocess;
   (with ``--in-process``, the runner child runs ``flows.loop`` instead: the same schedule
   in one long-lived process that keeps the model loaded);
3. on SIGTERM, SIGINT or SIGHUP stops the runner's and then the server's process groups, so
   no flow run or server helper outlives it.

Runs never overlap: each deployment has ``concurrency_limit=1`` with the CANCEL_NEW strategy
(a run that comes due while the previous one still runs is cancelled, not queued), and the
runner executes one run at a time. A run that crashes is a failed flow run; the schedule and
the runner carry on, and a runner that dies is restarted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flows.processes import ProcessGroup, free_port, wait_for_http
from silkwatch.config import ScheduleSettings, Settings, load_settings

__all__ = [
    "DIGEST_DEPLOYMENT",
    "MONITOR_DEPLOYMENT",
    "ServeOptions",
    "build_deployments",
    "digest_cron",
    "digest_deployment",
    "monitor_deployment",
    "run_runner",
    "supervise",
]

MONITOR_DEPLOYMENT = "silkwatch-monitor"
DIGEST_DEPLOYMENT = "silkwatch-digest"
HEARTBEAT_NAME = ".silkwatch-serve.heartbeat"

Echo = Callable[[str], None]


def digest_cron(schedule: ScheduleSettings) -> str:
    """``digest_at = "07:30"`` -> ``"30 7 * * *"`` (interpreted in ``schedule.timezone``)."""
    at = schedule.digest_time
    return f"{at.minute} {at.hour} * * *"


def _one_at_a_time() -> Any:
    """Runs never overlap: a run that comes due while the previous one runs is cancelled."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

    return ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)


def monitor_deployment(
    schedule: ScheduleSettings,
    config_path: str | None,
    *,
    name: str,
    anchor: datetime,
    shard: int = 0,
    shards: int = 1,
    **options: Any,
) -> Any:
    """A ``monitor`` deployment every ``monitor_every_minutes`` from ``anchor``, for one shard.

    ``options`` go to ``to_deployment`` (tags, paused, entrypoint type, description).
    """
    from prefect.client.schemas.schedules import IntervalSchedule

    from flows.monitor import monitor

    parameters = {"config_path": config_path, "shard": shard, "shards": shards}
    options.setdefault(
        "description", f"Fetch, classify and alert every {schedule.monitor_every_minutes} min."
    )
    return monitor.to_deployment(
        name=name,
        schedule=IntervalSchedule(
            interval=timedelta(minutes=schedule.monitor_every_minutes),
            anchor_date=anchor,
            timezone=schedule.timezone,
        ),
        parameters=parameters,
        concurrency_limit=_one_at_a_time(),
        **options,
    )


def digest_deployment(schedule: ScheduleSettings, config_path: str | None, **options: Any) -> Any:
    """The ``digest`` deployment, daily at ``digest_at`` in ``timezone``."""
    from prefect.client.schemas.schedules import CronSchedule

    from flows.digest import digest

    return digest.to_deployment(
        name=DIGEST_DEPLOYMENT,
        schedule=CronSchedule(cron=digest_cron(schedule), timezone=schedule.timezone),
        parameters={"config_path": config_path},
        concurrency_limit=_one_at_a_time(),
        description=f"Daily digest at {schedule.digest_at} {schedule.timezone}.",
        **options,
    )


def build_deployments(schedule: ScheduleSettings, config_path: str | None) -> list[Any]:
    """The two runner deployments; runs get ``config_path`` so they load the same settings."""
    every = timedelta(minutes=schedule.monitor_every_minutes)
    return [
        # run_runner starts the first cycle at once; the schedule takes over from there
        monitor_deployment(
            schedule,
            config_path,
            name=MONITOR_DEPLOYMENT,
            anchor=datetime.now(UTC) + every,
            paused=False,
            tags=["silkwatch"],
        ),
        digest_deployment(schedule, config_path, paused=False, tags=["silkwatch"]),
    ]


def run_runner(config_path: str | None) -> None:
    """The runner child: register the deployments, start a first cycle, run until SIGTERM.

    Like ``prefect.serve`` plus one thing: a monitoring run is requested at once, so a
    fresh ``silkwatch serve`` shows a cycle within seconds instead of one interval later
    (the interval schedule is anchored one interval after start-up).
    """
    import asyncio

    from prefect.deployments import run_deployment
    from prefect.runner import Runner

    settings = load_settings(config_path)
    # limit=1: the runner starts one flow run at a time, so monitor and digest never
    # write to the DuckDB file together. pause_on_shutdown: no runs pile up while stopped.
    runner = Runner(name="silkwatch", limit=1, pause_on_shutdown=True)
    ids = [runner.add_deployment(d) for d in build_deployments(settings.schedule, config_path)]
    run_deployment(ids[0], timeout=0)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(runner.start())


@dataclass(frozen=True)
class ServeOptions:
    """How ``supervise`` starts and stops its children."""

    api_url: str | None = None  # an existing Prefect API; None starts a local server
    in_process: bool = False  # flows.loop instead of deployments: the model stays loaded
    server_start_timeout: float = 120.0
    runner_stop_grace: float = 10.0
    server_stop_grace: float = 8.0
    restart_delay: float = 5.0
    max_restarts_per_hour: int = 10
    heartbeat_seconds: float = 10.0


class _StopFlag:
    """SIGTERM/SIGINT set a flag the supervision loop waits on; handlers restored on exit."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)

    def __init__(self) -> None:
        self.event = threading.Event()
        self.received: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:
        for sig in self.SIGNALS:
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, _frame: object) -> None:
        self.received = signum
        self.event.set()

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def _heartbeat(path: Path) -> None:
    """Touch the heartbeat file the Docker HEALTHCHECK reads: all children were alive just now."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{time.time():.0f} {os.getpid()}\n", encoding="utf-8")
    except OSError:
        pass


def _start_local_server(
    children: list[ProcessGroup],
    env: dict[str, str],
    log: Path,
    options: ServeOptions,
    stop: _StopFlag,
    echo: Echo,
) -> str | None:
    """Start ``prefect server start`` on a free loopback port; its API URL once healthy.

    None when it did not become healthy in time, or a stop signal came first. The server is
    appended to ``children`` as soon as it exists, so the caller always stops it.
    """
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    echo(f"starting a Prefect server on {api_url} (log: {log})")
    server = ProcessGroup(
        "prefect server",
        [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--analytics-off",
            "--no-ui",
        ],
        env={**env, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"},
        log_path=log,
    )
    children.append(server)
    server.start()
    started = time.monotonic()
    while not stop.event.is_set() and server.exit_code() is None:
        if wait_for_http(f"{api_url}/health", timeout_seconds=1.0, process=server):
            echo(f"Prefect server ready in {time.monotonic() - started:.1f} s")
            return api_url
        if time.monotonic() - started > options.server_start_timeout:
            break
    if not stop.event.is_set():
        echo(f"error: the Prefect server did not become healthy; see {log}")
    return None


def _watch(
    start_runner: Callable[[], ProcessGroup],
    server: ProcessGroup | None,
    heartbeat: Path,
    options: ServeOptions,
    stop: _StopFlag,
    echo: Echo,
) -> int:
    """Keep the runner alive until a stop signal; return the exit status.

    A runner that exits is restarted after a pause (at most ``max_restarts_per_hour``); a
    Prefect server that exits ends serving, because runs cannot be scheduled without it.
    """
    runner = start_runner()
    restarts: list[float] = []
    last_beat = 0.0
    while not stop.event.wait(0.5):
        if server is not None and server.exit_code() is not None:
            echo(f"error: the Prefect server exited ({server.exit_code()}); stopping")
            return 1
        code = runner.exit_code()
        if code is None:
            if time.monotonic() - last_beat >= options.heartbeat_seconds:
                _heartbeat(heartbeat)
                last_beat = time.monotonic()
            continue
        now = time.monotonic()
        restarts = [t for t in restarts if now - t < 3600] + [now]
        if len(restarts) > options.max_restarts_per_hour:
            echo(f"error: the runner exited {len(restarts)} times in an hour; stopping")
            return 1
        echo(f"the runner exited ({code}); restarting in {options.restart_delay:.0f} s")
        runner.stop(0)
        if stop.event.wait(options.restart_delay):
            break
        runner = start_runner()
    return 0


def supervise(
    settings: Settings,
    config_path: str | None,
    *,
    options: ServeOptions | None = None,
    echo: Echo = print,
) -> int:
    """Run the schedules until a stop signal; return the exit status for the CLI.

    Everything started here is stopped here, whatever happens: a failed start, a crashed
    child, or SIGTERM/SIGINT/SIGHUP.
    """
    options = options or ServeOptions()
    config_path = str(Path(config_path).resolve()) if config_path else None
    workdir = settings.storage.database.parent
    env = dict(os.environ)
    children: list[ProcessGroup] = []  # stopped in reverse order: runners, then the server
    server: ProcessGroup | None = None
    api_url = options.api_url or os.environ.get("PREFECT_API_URL")

    with _StopFlag() as stop:
        try:
            if api_url:
                echo(f"using the Prefect API at {api_url}")
            else:
                log = workdir / "logs" / "prefect-server.log"
                api_url = _start_local_server(children, env, log, options, stop, echo)
                if api_url is None:
                    return 0 if stop.event.is_set() else 1
                server = children[0]
            env["PREFECT_API_URL"] = api_url

            argv = [sys.executable, "-m", "flows.serve"]
            if config_path:
                argv += ["--config", config_path]
            if options.in_process:
                argv.append("--in-process")
            schedule = settings.schedule
            how = "in one process, model kept loaded" if options.in_process else "as deployments"
            echo(
                f"serving {how}: monitor every {schedule.monitor_every_minutes} min, digest "
                f"daily at {schedule.digest_at} {schedule.timezone}; database "
                f"{settings.storage.database}. Stop with Ctrl-C or SIGTERM."
            )

            def start_runner() -> ProcessGroup:
                runner = ProcessGroup("runner", argv, env=env)
                children.append(runner)
                return runner.start()

            return _watch(start_runner, server, workdir / HEARTBEAT_NAME, options, stop, echo)
        finally:
            if stop.received is not None:
                echo(f"received {signal.Signals(stop.received).name}: stopping")
            for child in reversed(children):
                grace = options.server_stop_grace if child is server else options.runner_stop_grace
                child.stop(grace)
            (workdir / HEARTBEAT_NAME).unlink(missing_ok=True)
            echo("stopped")


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m flows.serve",
        description="The runner child of `silkwatch serve`: serve the silkwatch deployments.",
    )
    parser.add_argument("--config", default=None, help="TOML configuration file")
    parser.add_argument(
        "--in-process", action="store_true", help="run flows in this process (flows.loop)"
    )
    args = parser.parse_args(argv)
    if args.in_process:
        from flows.loop import run_loop

        run_loop(args.config)
    else:
        run_runner(args.config)


if __name__ == "__main__":
    _main()
