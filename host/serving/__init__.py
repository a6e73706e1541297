"""``edgehost serve``: tenants answer HTTP.

The request path is C (native_modules/serving on libmicrohttpd: parse,
route, limits, a bounded pool of handler threads per worker, the tenant's
instance pool, the response, the counters); this package is its control
plane:

* :mod:`.plan`    -- which tenants, built where, and their routes (Host + path)
* :mod:`.master`  -- the supervising process: sockets, workers, signals, reload
* :mod:`.worker`  -- one server process: loads tenants, runs the C server
* :mod:`.metrics` -- the shared counters file and its Prometheus rendering
* :mod:`.admin`   -- the admin listener (``/metrics``, ``/healthz``, ``/status``)
"""
