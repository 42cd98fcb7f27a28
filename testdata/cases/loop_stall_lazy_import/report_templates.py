"""A module that does real work when it is imported: it builds a lookup
table (as template or locale modules do)."""
TABLE = {}
for i in range(500_000):
    TABLE["key-%d" % i] = (i * 7919) % 1000003


def render(name):
    return "%s:%d" % (name, TABLE["key-%d" % len(name)])
