# Sourced by the scripts: makes sure the Debian packages a script needs are installed.
#
#   need_packages libpaho-mqtt-dev mosquitto
#
# Installs what is missing with apt-get (through sudo when not root) and says so on stderr; when it cannot,
# prints one line naming the missing packages and the command to install them, and exits 69.

need_packages() {
    local name missing=()
    name="$(basename "$0")"
    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "$name: this script expects Debian or Ubuntu (no dpkg-query); install the equivalents of: $*" >&2
        exit 69
    fi
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0

    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "$name: missing Debian packages: ${missing[*]}; as root run: apt-get install ${missing[*]}" >&2
            exit 69
        fi
        sudo=(sudo)
    fi
    echo "$name: installing ${missing[*]} (apt-get)..." >&2
    if ! { "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
        && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }; then
        echo "$name: could not install ${missing[*]}; run: sudo apt-get install ${missing[*]}" >&2
        exit 69
    fi
}
