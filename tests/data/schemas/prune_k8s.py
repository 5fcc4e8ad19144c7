"""Copies the Kubernetes JSON schemas tests/deploy.rs uses out of the PyPI package
kubernetes-validate, keeping in _definitions.json only the definitions they reach.

    pip download --no-deps kubernetes-validate==1.37.0 -d /tmp/kv
    unzip -q /tmp/kv/kubernetes_validate-1.37.0-py3-none-any.whl -d /tmp/kv
    python3 tests/data/schemas/prune_k8s.py /tmp/kv/kubernetes_validate/kubernetes-json-schema/v1.34.0-local-strict
"""
import json
import os
import re
import sys

KINDS = ["configmap-v1.json", "service-v1.json", "statefulset-apps-v1.json"]
OUT = os.path.join(os.path.dirname(__file__), "kubernetes-v1.34.0-local-strict")


def refs(schema):
    return re.findall(r'#/\$defs/([^"]+)"', json.dumps(schema))


def main(source):
    defs = json.load(open(os.path.join(source, "_definitions.json")))
    todo, keep = [], set()
    for kind in KINDS:
        schema = json.load(open(os.path.join(source, kind)))
        todo += refs(schema)
        with open(os.path.join(OUT, kind), "w") as f:
            json.dump(schema, f, indent=1, sort_keys=True)
            f.write("\n")
    while todo:
        name = todo.pop()
        if name not in keep:
            keep.add(name)
            todo += refs(defs["$defs"][name])
    defs["$defs"] = {k: v for k, v in defs["$defs"].items() if k in keep}
    with open(os.path.join(OUT, "_definitions.json"), "w") as f:
        json.dump(defs, f, indent=1, sort_keys=True)
        f.write("\n")


main(sys.argv[1])
