# Sourced by scripts/provision/*.sh (this folder is not run by scripts/test-all's glob).
#
# debian_install COMMAND PACKAGE: make COMMAND available from Debian's PACKAGE. Does nothing
# when COMMAND is already on the PATH; otherwise installs PACKAGE, waiting for another
# installer's dpkg lock, and refreshes the package lists once when the install fails (a new
# machine's lists may be missing or stale). Fails when COMMAND is still missing afterwards.
debian_install() {
  local command=$1 package=$2 sudo=""
  command -v "$command" >/dev/null 2>&1 && return 0
  echo "provision: installing $package (Debian package) for $command"
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  local apt=($sudo apt-get -o DPkg::Lock::Timeout=600 -qq)
  export DEBIAN_FRONTEND=noninteractive
  if ! "${apt[@]}" install -y --no-install-recommends "$package" >/dev/null; then
    "${apt[@]}" update
    "${apt[@]}" install -y --no-install-recommends "$package" >/dev/null
  fi
  command -v "$command" >/dev/null
}
