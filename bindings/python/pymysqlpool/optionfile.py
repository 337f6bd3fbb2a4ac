"""MySQL option files (my.cnf) for connect()'s read_default_file and
read_default_group, read as PyMySQL reads them: a missing file is no error,
and a value from the file fills only what the caller left empty."""

import configparser
import os
import sys


class Parser(configparser.RawConfigParser):
    """PyMySQL's option-file parser: options without values are allowed,
    names are case-insensitive with '_' read as '-', and a value's
    surrounding quotes are dropped."""

    def __init__(self, **kwargs):
        kwargs["allow_no_value"] = True
        super().__init__(**kwargs)

    def optionxform(self, optionstr):
        return optionstr.lower().replace("_", "-")

    def get(self, section, option, **kwargs):
        value = super().get(section, option, **kwargs)
        if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            return value[1:-1]
        return value


# connect() keyword -> option name in the file
_OPTIONS = {
    "user": "user", "password": "password", "host": "host", "database": "database", "unix_socket": "socket",
    "port": "port", "bind_address": "bind-address", "charset": "default-character-set",
}
_SSL_OPTIONS = ("ca", "capath", "cert", "key", "password", "cipher")


def fill_in(kwargs):
    """Completes connect()'s keywords (a dict, changed in place) from the
    option file: read_default_file (default /etc/my.cnf when only a group is
    named), group read_default_group (default "client")."""
    path = kwargs.get("read_default_file")
    if not path:
        path = "c:\\my.ini" if sys.platform.startswith("win") else "/etc/my.cnf"
    group = kwargs.get("read_default_group") or "client"
    parser = Parser()
    parser.read(os.path.expanduser(path))

    def option(name, given):
        if given:
            return given
        try:
            return parser.get(group, name)
        except (configparser.Error, KeyError):
            return given

    for keyword, name in _OPTIONS.items():
        value = option(name, kwargs.get(keyword))
        if value:
            kwargs[keyword] = value
    if kwargs.get("port"):
        kwargs["port"] = int(kwargs["port"])
    ssl = kwargs.get("ssl") or {}
    if isinstance(ssl, dict):
        ssl = dict(ssl)
        for key in _SSL_OPTIONS:
            value = option("ssl-" + key, ssl.get(key))
            if value:
                ssl[key] = value
        if ssl:
            kwargs["ssl"] = ssl
