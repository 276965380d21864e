"""The reference JFrog ML API server (``jfml server``).

Modules, one job each: ``app`` (assembles the ASGI app), ``routes_*`` (one router per
resource), ``tables`` (SQLAlchemy rows), ``db`` (engine, SQLite tuning, transactions), ``auth``,
``middleware`` (request ids, body limits), ``errors`` (the one exception -> error body mapping),
``params``/``views`` (request parsing, response building), ``state`` (database + deployment
runtime), ``runtime`` (the serving seam; ``serving`` implements it), ``embedded`` (in-process).
"""
