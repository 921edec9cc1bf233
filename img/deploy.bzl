"""Public API: running several deploy operations at once."""

load("//img/private:multi_deploy.bzl", _multi_deploy = "multi_deploy")

multi_deploy = _multi_deploy
