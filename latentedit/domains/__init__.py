"""Domains: the files that belong to one generator, and where every default a command uses comes from.

* ``domain``   — the frozen ``Domain`` description (``DomainFile``, ``Reader``, ``DomainError``);
* ``files``    — JSON/YAML domain files a user writes (paths relative to the file);
* ``registry`` — installed domains (``latentedit.domains`` entry points, lazy) and lookup by fingerprint;
* ``defaults`` — a command's defaults from the domain of the generator in use;
* ``fetch``    — the download cache: fetching a domain's published files, resolving files from a path or the cache;
* ``builtin/`` — named public domains shipped as domain files (``ffhq``).
"""

from latentedit.domains.defaults import (ENV_DOMAIN, default_generator, domain_file, domain_of,
                                         load_domain_model)
from latentedit.domains.domain import ROLES, Domain, DomainError, DomainFile, Reader
from latentedit.domains.files import domain_from_dict, domain_to_dict, read_domain_file, write_domain_file
from latentedit.domains.registry import (GROUP, domain_for_fingerprint, domain_names, domains, find_domain,
                                         load_domain, register_domain, unregister_domain)

__all__ = ["ENV_DOMAIN", "GROUP", "ROLES", "Domain", "DomainError", "DomainFile", "Reader", "default_generator",
           "domain_file", "domain_for_fingerprint", "domain_from_dict", "domain_names", "domain_of",
           "domain_to_dict", "domains", "find_domain", "load_domain", "load_domain_model", "read_domain_file",
           "register_domain", "unregister_domain", "write_domain_file"]
