# Sourced by the compose test's scripts: the Debian mirror this machine's apt already uses, read
# from its configuration (either sources format), so no mirror host is written into the repository.
debian_mirror() {
    local codename query
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    query() {
        apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(IDENTIFIER)' \
            | awk -v rel="$codename" '$2 == rel && $3 == "Packages" {print $1; exit}'
    }
    # indextargets reads the downloaded lists: a machine that never ran apt-get update has none.
    if [ -z "$(query)" ]; then apt-get update -qq >/dev/null; fi
    query
}
