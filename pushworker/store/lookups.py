"""``field__any=values``: one bound parameter for a list of values on PostgreSQL (``= ANY(%s)``).

A run's statements name hundreds of ids. Written as ``IN (%s, %s, …)`` each is a long statement
with hundreds of parameters, which psycopg parses again on every execution (it caches only short
statements with few parameters) and PostgreSQL plans again; ``= ANY(%s)`` with one array parameter
is the same short statement every time. Elsewhere (SQLite) it is ``IN``.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Field, ForeignObject, Lookup


# ``delivery_id__any``: a foreign key allows only the lookups it lists.
@ForeignObject.register_lookup
@Field.register_lookup
class AnyOf(Lookup):
    lookup_name = "any"
    prepare_rhs = False  # a list of values, each prepared below as its field prepares one

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = [self.lhs.output_field.get_db_prep_value(v, connection) for v in self.rhs]
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", [*lhs_params, values]
        if not values:
            return "1 = 0", list(lhs_params)
        marks = ", ".join(["%s"] * len(values))
        return f"{lhs} IN ({marks})", [*lhs_params, *values]
