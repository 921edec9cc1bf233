"""Tests of the credentials check on //img/settings:remote_cache."""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts", "unittest")
load("//img/private:deploy.bzl", "remote_cache_has_credentials")

# The same addresses as credentialCases in tools/cas/cas_test.go, which
# checks the img tool's side of the same notion.
_CASES = {
    "https://user:secret@cache.invalid/x": True,
    "user:pw@cache:443": True,
    "u@cache": True,
    "grpcs://u@h": True,
    "grpc://u:p@h:1/instance": True,
    "HTTP://u@h": True,
    "cache.example.com:443": False,
    "grpcs://cache.example.com": False,
    "https://cache.example.com/a@b": False,
    "https://cache.example.com/x?user=a@b": False,
    "unix:/run/user@1000/cas.sock": False,
    "unix:///run/cas.sock": False,
    "": False,
}

def _has_credentials_test_impl(ctx):
    env = unittest.begin(ctx)
    for address, want in _CASES.items():
        asserts.equals(env, want, remote_cache_has_credentials(address), "remote_cache_has_credentials(%r)" % address)
    return unittest.end(env)

_has_credentials_test = unittest.make(_has_credentials_test_impl)

def _refused_test_impl(ctx):
    env = analysistest.begin(ctx)
    asserts.expect_failure(env, "remote_cache has credentials in its URL")
    asserts.expect_failure(env, "credential_helper")
    return analysistest.end(env)

def _refused_test(address):
    return analysistest.make(
        _refused_test_impl,
        expect_failure = True,
        config_settings = {str(Label("//img/settings:remote_cache")): address},
    )

# One rule per address: config_settings are fixed when the rule is made.
_refused_without_scheme_test = _refused_test("user:pw@cache:443")
_refused_grpcs_test = _refused_test("grpcs://u@h")

def _accepted_test_impl(ctx):
    env = analysistest.begin(ctx)
    config = None
    for a in analysistest.target_actions(env):
        if a.mnemonic == "FileWrite" and a.outputs.to_list()[0].basename.endswith(".push.json"):
            config = json.decode(a.content)
    asserts.equals(env, "unix:/run/user@1000/cas.sock", config and config["remote_cache"])
    return analysistest.end(env)

_accepted_unix_test = analysistest.make(
    _accepted_test_impl,
    config_settings = {str(Label("//img/settings:remote_cache")): "unix:/run/user@1000/cas.sock"},
)

def remote_cache_test_suite(name, push):
    """Declares the remote_cache credentials tests.

    Args:
      name: name of the test_suite.
      push: an image_push target (lazy) to analyze with each address.
    """
    _has_credentials_test(name = name + "_has_credentials_test", size = "small")
    _refused_without_scheme_test(name = name + "_without_scheme_test", target_under_test = push, size = "small")
    _refused_grpcs_test(name = name + "_grpcs_test", target_under_test = push, size = "small")
    _accepted_unix_test(name = name + "_unix_test", target_under_test = push, size = "small")
    native.test_suite(name = name, tests = [
        ":" + name + suffix
        for suffix in ["_has_credentials_test", "_without_scheme_test", "_grpcs_test", "_unix_test"]
    ])
