"""No tables of its own: accounts' data is allauth's (second factors, sessions, single sign-on
links) and the organization's rule is `Organization.require_second_factor`. The module exists
so that `migrate` tells this app it ran (its post_migrate creates the cache table)."""
