"""One botocore loader per process, the warmed default session, and moto's remembered hosts."""

from __future__ import annotations

import os

import pytest


def test_sessions_made_here_share_one_loader_and_parse_the_kms_model_once():
    from kms_course.sandbox import botocore_data

    first, second = botocore_data.session(), botocore_data.session()
    assert first is not second
    assert first.get_component("data_loader") is second.get_component("data_loader")
    assert first.get_component("data_loader") is botocore_data.loader()
    model = botocore_data.kms_service_model()
    assert model.service_name == "kms"
    assert "Encrypt" in model.operation_names  # https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html
    assert botocore_data.kms_service_model() is model


def test_neutral_environment_hides_the_users_aws_settings_and_gives_them_back(monkeypatch):
    from kms_course.sandbox import start

    monkeypatch.setenv("AWS_PROFILE", "instructor")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/home/instructor/.aws/config")
    with start.neutral_environment():
        assert "AWS_PROFILE" not in os.environ
        assert os.environ["AWS_CONFIG_FILE"] == os.devnull
        assert os.environ["AWS_SHARED_CREDENTIALS_FILE"] == os.devnull
    assert os.environ["AWS_PROFILE"] == "instructor"
    assert os.environ["AWS_CONFIG_FILE"] == "/home/instructor/.aws/config"


def test_the_warmed_default_session_uses_the_shared_loader_and_the_sandbox_keeps_it(monkeypatch):
    import boto3

    from kms_course.sandbox import botocore_data, start

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    monkeypatch.setattr(start, "_TRUSTED_SESSION", None)
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")  # would break a session made with it
    start.warm_default_session()
    warmed = boto3.DEFAULT_SESSION
    assert warmed is not None
    assert warmed._session.get_component("data_loader") is botocore_data.loader()
    assert os.environ["AWS_PROFILE"] == "no-such-profile"
    start._use_sandbox_environment("us-east-1")
    assert boto3.DEFAULT_SESSION is warmed
    monkeypatch.setattr(start, "_TRUSTED_SESSION", None)
    start._use_sandbox_environment("us-east-1")
    assert boto3.DEFAULT_SESSION is None  # any other session made earlier is dropped


def test_the_sandbox_dispatcher_finds_a_hosts_service_once(monkeypatch):
    import moto.backends

    from kms_course.sandbox import server

    app = server.make_app()
    host = "kms.us-east-1.amazonaws.com"
    assert app.get_backend_for_host(host) == "kms"

    def listed_again():
        raise AssertionError("moto listed its package folder again for a known host")

    monkeypatch.setattr(moto.backends, "list_of_moto_modules", listed_again)
    assert app.get_backend_for_host(host) == "kms"
    with pytest.raises(AssertionError):  # an unknown host is still looked up
        app.get_backend_for_host("s3.us-east-1.amazonaws.com")


def test_the_dispatcher_remembers_at_most_known_hosts(monkeypatch):
    from kms_course.sandbox import server

    monkeypatch.setattr(server, "KNOWN_HOSTS", 3)
    app = server.make_app()
    for n in range(10):
        app.get_backend_for_host(f"host{n}.example")
    assert len(app.known) == 3


def test_load_all_lists_the_checks_package_once_per_process(monkeypatch):
    import pkgutil

    from kms_course.lessons import exercises

    registry = exercises.load_all()
    monkeypatch.setattr(pkgutil, "iter_modules", lambda *a, **k: pytest.fail("listed again"))
    assert exercises.load_all() is registry


def test_workers_forked_from_one_parent_draw_different_key_ids():
    """moto's own random generator is copied into every forked worker; init_worker reseeds it,
    so two workers' first key IDs differ (found by a hostile-student trial: both attackers,
    graded on two workers, got the same key ID)."""
    from moto.moto_api._internal import mock_random

    from kms_course.instructor.grading import worker

    mock_random.seed(7)  # the parent's state, which each child inherits

    def first_id_in_child() -> str:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            worker._reseed_moto()
            os.write(write, str(mock_random.uuid4()).encode())
            os._exit(0)
        os.close(write)
        with os.fdopen(read) as answer:
            value = answer.read()
        os.waitpid(pid, 0)
        return value

    assert first_id_in_child() != first_id_in_child()


def test_a_worker_imports_nothing_the_pool_did_not_preload():
    """Every module a worker imports after the fork is its own copy (measured: the trail's
    ipywidgets import and the rules' modules cost each worker ~2 MiB); the pool's parent
    preloads them all, and the sandbox server never imports ipywidgets."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from kms_course.instructor.grading import pool, worker\n"
        "pool.preload()\n"
        "before = set(sys.modules)\n"
        "worker.init_worker(worker.GradeConfig(lesson='03_creating_and_describing_keys'))\n"
        "print(sorted(set(sys.modules) - before), 'ipywidgets' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[] False"
