"""Running Hotline on more than one box: the routing leader and its standby (leader.py,
takeover.py), the fencing epoch offers carry (offers.py), the bus between the leader
and the call workers over NATS (bus.py, responder.py, remote.py, view.py, settings.py),
and the SIP edge in front of several Asterisk nodes (edge.py: Kamailio's settings)."""
