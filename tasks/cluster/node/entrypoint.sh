#!/bin/sh
# A Swarm node: Debian's dockerd inside this container, on overlay2 (its /var/lib/docker is a
# volume, so not overlay on overlay), listening on the socket and on tcp://<its ip>:2375,
# which is on the cluster's bridge network only and never published.
#   AC295_INSECURE  registries (and CIDRs) the node pulls from over plain HTTP
set -eu
# Nest the inner engine's cgroups under this container's (cgroup v1, host cgroup namespace):
# removing the node removes them too.
OWN="$(awk -F: '$2=="memory"{print $3}' /proc/1/cgroup)"
IP="$(ip -4 -o addr show dev eth0 | awk '{split($4,a,"/"); print a[1]; exit}')"
set -- --storage-driver=overlay2 --host=unix:///var/run/docker.sock \
       --host="tcp://$IP:2375" --tls=false --cgroup-parent="${OWN%/}/ac295-inner" \
       --log-level=warn
for r in ${AC295_INSECURE:-}; do set -- "$@" --insecure-registry="$r"; done
mkdir -p /var/run /var/lib/docker
rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid
exec /usr/sbin/dockerd "$@"
