# The production settings every recipe in this folder uses (systemd, nginx, Docker, Kubernetes).
# The numbers are tied together; test/runtime/deploy.test.ts checks that they stay so:
#   Kubernetes' terminationGracePeriodSeconds > shutdown_delay + graceful_timeout, and
#   shutdown_delay >= the time the readiness probe takes to mark the pod unready.
import multiprocessing

bind = ["0.0.0.0:8000"]
workers = multiprocessing.cpu_count() * 2 + 1
worker_class = "gthread"
threads = 4
keepalive = 75  # longer than the proxy's idle timeout for upstream keep-alive connections

# After TERM: 10 s of normal service while /readyz says 503 (load balancers drain us), then the
# workers serve what is queued and finish in-flight requests within 30 s.
shutdown_delay = 10
graceful_timeout = 30
timeout = 60

# /metrics, /healthz and /readyz for Prometheus and the orchestrator's probes (not the app's port).
metrics_bind = "0.0.0.0:9100"

# The proxy in front (nginx, an ingress) sets X-Forwarded-Proto; trust it from these peers only.
forwarded_allow_ips = ["127.0.0.1", "::1"]

accesslog = "-"
access_log_json = True
