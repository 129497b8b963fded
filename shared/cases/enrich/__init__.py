"""Enrichment: what Graph, threat intelligence and key intelligence say about a case's
principals, apps, IPs and keys."""
