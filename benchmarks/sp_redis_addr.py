"""sp_redis_addr.py - the benchmarks' Redis clients from supportpulse's address form:
"unix:/path" (one server) or "HOST:PORT" (a Redis Cluster's first master), and the
SIGTERM that ends a reader's loop."""
import signal

import redis


def connect(addr):
    """A client for addr: redis.Redis on a unix socket, else a RedisCluster."""
    if addr.startswith("unix:"):
        return redis.Redis(unix_socket_path=addr[5:])
    from redis.cluster import RedisCluster
    host, port = addr.rsplit(":", 1)
    return RedisCluster(host=host, port=int(port))


def masters(addr):
    """One plain client per master (a single server: itself)."""
    c = connect(addr)
    if addr.startswith("unix:"):
        return [c]
    return [c.get_redis_connection(n) for n in c.get_primaries()]


def until_sigterm():
    """A function that answers True until the process gets SIGTERM (a reader's loop:
    `while running(): ...`, then it prints what it measured)."""
    state = {"stop": False}

    def on_term(*_):
        state["stop"] = True

    signal.signal(signal.SIGTERM, on_term)
    return lambda: not state["stop"]
