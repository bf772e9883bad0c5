# Shared helpers for scripts/*. Source it; do not run it.
# shellcheck shell=bash

OCTO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Swift lives at /opt/swift on our machines; use it when swift is not on PATH.
ensure_swift() {
    if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
        export PATH=/opt/swift/usr/bin:$PATH
    fi
    command -v swift >/dev/null 2>&1 || die "swift is not installed (expected on PATH or at /opt/swift/usr/bin)"
}

# Installs the Debian packages octo needs, if any is missing.
ensure_packages() {
    local want=(mariadb-server mariadb-client libmariadb-dev pkg-config cron "$@") missing=() p
    for p in "${want[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    # policy-rc.d keeps the distribution's MariaDB service from starting: octo runs its own.
    # a fresh machine's mirror or its own apt run (an upgrade at boot) may be busy for a while: wait and retry
    local apt=(-o Acquire::Retries=5 -o DPkg::Lock::Timeout=600) try
    for try in 1 2 3; do
        $sudo apt-get "${apt[@]}" update -qq || true
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get "${apt[@]}" install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null && return 0
        say "apt-get install ${missing[*]} failed (try $try of 3)"
        [ "$try" -lt 3 ] && sleep $((try * 10))
    done
    die "apt-get install ${missing[*]} failed"
}
