"""Cluster mode: the exercises' containers on a Docker Swarm instead of the local engine.

``nodes`` makes a real Swarm of N engines on this one machine (``script/cluster up N``): each
node is a container running Debian's dockerd, on a bridge network of its own with fixed
addresses, plus a registry container the nodes pull from; ``nodes.current`` finds it again
(``tasks.kinds.runtime`` uses it, or a real Swarm named by the ``cluster_manager`` and
``cluster_registry`` variables). ``jobs`` runs one-shot containers as Swarm replicated jobs;
``services`` runs services and networks as Swarm services on an overlay network;
``forward`` relays a service's port to this machine's loopback. What to make and where to run
is decided here; every call to an engine goes through ``tasks.engine`` (``machines`` for
the node containers, ``swarm`` for the Swarm's manager and nodes), with plain values.
"""
