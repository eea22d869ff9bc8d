#!/bin/sh
# A Swarm node: Debian's dockerd inside this container, on overlay2 (its /var/lib/docker is a
# volume, so not overlay on overlay). It listens on its socket and on tcp://<its ip>:2376 with
# --tlsverify: only a client with a certificate from the cluster's CA gets an answer (the files
# are mounted read-only at /etc/ac295/tls). It pulls from the cluster's registry over TLS with
# the same certificate. Containers it starts get no default bridge (--bridge=none: a container
# without a network has none) and no new privileges.
set -eu
TLS=/etc/ac295/tls
# Nest the inner engine's cgroups under this container's (cgroup v1, host cgroup namespace):
# removing the node removes them too.
OWN="$(awk -F: '$2=="memory"{print $3}' /proc/1/cgroup)"
IP="$(ip -4 -o addr show dev eth0 | awk '{split($4,a,"/"); print a[1]; exit}')"
REGISTRY=/etc/docker/certs.d/ac295-swarm-registry:5000
mkdir -p "$REGISTRY" /var/run /var/lib/docker
ln -sf "$TLS/ca.pem" "$REGISTRY/ca.crt"
ln -sf "$TLS/cert.pem" "$REGISTRY/client.cert"
ln -sf "$TLS/key.pem" "$REGISTRY/client.key"
rm -f /var/run/docker.pid /var/run/docker/containerd/containerd.pid
exec /usr/sbin/dockerd --storage-driver=overlay2 --host=unix:///var/run/docker.sock \
    --host="tcp://$IP:2376" --tlsverify --tlscacert="$TLS/ca.pem" --tlscert="$TLS/cert.pem" \
    --tlskey="$TLS/key.pem" --bridge=none --no-new-privileges \
    --cgroup-parent="${OWN%/}/ac295-inner" --log-level=warn
