#!/usr/bin/env bash
# Make the Debian base image locally when it cannot be pulled (no registry access):
# debootstrap a minbase of the suite, slim it the way Debian's official "-slim" images are, and
# `docker import` it under the tag the Dockerfile's FROM uses. Does nothing if the tag exists.
#
#   scripts/docker-base-image.sh [TAG]        # TAG defaults to debian:bookworm-slim
#
# The mirror comes from this machine's apt configuration (override with DEBIAN_MIRROR and
# DEBIAN_SECURITY_MIRROR); nothing host-specific is written into this script.
set -euo pipefail

TAG="${1:-debian:bookworm-slim}"
SUITE="${SUITE:-bookworm}"
DOCKER="${DOCKER:-docker}"

log() { printf '[base-image] %s\n' "$*" >&2; }

if "$DOCKER" image inspect "$TAG" >/dev/null 2>&1; then
    log "$TAG already present"
    exit 0
fi

if [ "$(id -u)" != 0 ]; then
    log "debootstrap needs root"; exit 1
fi
if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

# The site apt uses for a release, e.g. "http://<mirror>/debian" for "bookworm".
apt_site() {
    # shellcheck disable=SC2016  # apt's own $(FIELD) placeholders
    apt-get indextargets --format '$(SITE) $(RELEASE)' 2>/dev/null |
        awk -v rel="$1" '$2 == rel { print $1; exit }'
}
MIRROR="${DEBIAN_MIRROR:-$(apt_site "$SUITE")}"
SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-$(apt_site "$SUITE-security")}"
if [ -z "$MIRROR" ]; then
    apt-get update -qq || true
    MIRROR="$(apt_site "$SUITE")"
    SECURITY_MIRROR="${SECURITY_MIRROR:-$(apt_site "$SUITE-security")}"
fi
if [ -z "$MIRROR" ]; then
    log "no apt source for '$SUITE' on this machine; set DEBIAN_MIRROR=http://<mirror>/debian"
    exit 1
fi
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

ROOTFS="$(mktemp -d /tmp/gateflow-rootfs.XXXXXX)"
trap 'rm -rf "$ROOTFS"' EXIT
log "debootstrap --variant=minbase $SUITE from $MIRROR"
keyring_opt=()
[ -f "$KEYRING" ] && keyring_opt=(--keyring="$KEYRING")
debootstrap --variant=minbase "${keyring_opt[@]}" "$SUITE" "$ROOTFS" "$MIRROR" >"$ROOTFS.log" 2>&1 || {
    tail -20 "$ROOTFS.log" >&2; rm -f "$ROOTFS.log"; exit 1
}
rm -f "$ROOTFS.log"

# apt sources inside the image: the same mirrors, deb822 like the official image.
rm -f "$ROOTFS/etc/apt/sources.list"
{
    printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: %s\n' \
        "$MIRROR" "$SUITE" "$SUITE" "$KEYRING"
    if [ -n "$SECURITY_MIRROR" ]; then
        printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: %s\n' \
            "$SECURITY_MIRROR" "$SUITE" "$KEYRING"
    fi
} >"$ROOTFS/etc/apt/sources.list.d/debian.sources"

# Slim, as debuerreotype does for the official "-slim" images: no docs, man pages or locales, now
# or for packages installed later; apt keeps no package cache.
cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/man/*
EOF
cat >"$ROOTFS/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
    >"$ROOTFS/etc/apt/apt.conf.d/docker-no-recommends"
printf 'Acquire::Languages "none";\n' >"$ROOTFS/etc/apt/apt.conf.d/docker-no-languages"
find "$ROOTFS/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
find "$ROOTFS/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
find "$ROOTFS/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} + 2>/dev/null || true
rm -rf "$ROOTFS"/usr/share/{man,info,groff,linda,lintian}/* \
    "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/cache/apt/*.bin \
    "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/log/*.log "$ROOTFS"/var/log/apt/* \
    "$ROOTFS"/tmp/* "$ROOTFS"/root/.cache
: >"$ROOTFS/etc/machine-id" 2>/dev/null || true

log "docker import as $TAG"
tar --numeric-owner --xattrs -C "$ROOTFS" -c . |
    "$DOCKER" import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' \
        --message "debootstrap --variant=minbase $SUITE, slimmed (scripts/docker-base-image.sh)" \
        - "$TAG" >/dev/null
log "$TAG: $("$DOCKER" image inspect -f '{{.Size}}' "$TAG" | awk '{ printf "%.1f MB", $1 / 1e6 }')"
