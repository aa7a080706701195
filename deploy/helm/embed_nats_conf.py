#!/usr/bin/env python3
"""Copies deploy/nats/permissions.conf and users.conf into nats-values.yaml (configMap.merge.data),
verbatim. Run it after editing either file; tests/deploy fails while the copies differ.

    python3 deploy/helm/embed_nats_conf.py
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))
VALUES = os.path.join(HERE, "nats-values.yaml")
BEGIN = "      permissions.conf: |\n"
END = "\n# The passwords users.conf reads"


def block(name):
    with open(os.path.join(HERE, "..", "nats", name)) as f:
        text = f.read()
    return "".join("        " + line if line.strip() else "\n" for line in text.splitlines(True))


def main():
    with open(VALUES) as f:
        values = f.read()
    start, end = values.index(BEGIN), values.index(END)
    embedded = BEGIN + block("permissions.conf") + "      users.conf: |\n" + block("users.conf")
    with open(VALUES, "w") as f:
        f.write(values[:start] + embedded + values[end:])


if __name__ == "__main__":
    main()
