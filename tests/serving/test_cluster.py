"""Beyond one machine: two edgehost hosts behind nginx with the shipped
examples/cluster/nginx.conf, on loopback."""

from __future__ import annotations

import re
import shutil
import subprocess
import time

import pytest

from tests.support import REPO, Load, Server, free_port, get, metric

pytestmark = pytest.mark.toolchain


def test_two_hosts_behind_nginx(serve_tenants, tmp_path):
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if shutil.os.path.exists(
        "/usr/sbin/nginx") else None)
    if not nginx:
        pytest.skip("nginx missing (Debian nginx-light; tests/system-packages.txt)")
    with Server(serve_tenants) as a, Server(serve_tenants) as b:
        lb = free_port()
        conf = (REPO / "examples" / "cluster" / "nginx.conf").read_text()
        conf = conf.replace("127.0.0.1:8081", f"127.0.0.1:{a.port}")
        conf = conf.replace("127.0.0.1:8082", f"127.0.0.1:{b.port}")
        conf = re.sub(r"listen 127\.0\.0\.1:8080;", f"listen 127.0.0.1:{lb};", conf)
        (tmp_path / "nginx.conf").write_text(conf)
        proc = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                                stderr=subprocess.PIPE, text=True)
        try:
            for _ in range(100):
                try:
                    if get(lb, "/probe/echo", timeout=2)[0] == 200:
                        break
                except OSError:
                    time.sleep(0.05)
            with Load(lb, "/probe/echo", clients=4) as load:
                time.sleep(1.0)
            assert load.failures() == [] and len(load.results) > 50
            served = [metric(s.metrics(), "edgehost_requests_total", tenant="probe", code="200")
                      for s in (a, b)]
            assert all(n > 0 for n in served), served  # both hosts took traffic
            # One host goes away: the balancer keeps answering from the other.
            a.stop()
            for _ in range(20):
                assert get(lb, "/hello-c/hello", timeout=10)[0] == 200
        finally:
            proc.terminate()
            proc.wait(timeout=10)
