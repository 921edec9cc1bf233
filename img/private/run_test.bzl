"""image_run_test: runs an image's program in containerd or Docker under
`bazel test`, and judges its exit code and output."""

load(":deploy.bzl", "deploy_launcher", "deploy_spec", "rlocation")
load(":providers.bzl", "ImageIndexInfo", "ImageManifestInfo")

_TOOLCHAIN = "//img:toolchain_type"

def _image_run_test_impl(ctx):
    tool = ctx.toolchains[_TOOLCHAIN].imgtool.executable
    image = deploy_spec(ctx, ctx.attr.image)
    spec = ctx.actions.declare_file(ctx.label.name + ".deploy.json")
    ctx.actions.write(spec, json.encode(image.spec))

    # The runtime is the test environment's to name (img run-test reads
    # CONTAINERD_ADDRESS or DOCKER_HOST); layers come from the runfiles.
    load_config = ctx.actions.declare_file(ctx.label.name + ".load.json")
    ctx.actions.write(load_config, json.encode({"daemon": "containerd", "strategy": "eager", "tags": []}))
    test_config = ctx.actions.declare_file(ctx.label.name + ".run.json")
    ctx.actions.write(test_config, json.encode({
        "label": str(ctx.label),
        "run": {
            "args": ctx.attr.cmd,
            "entrypoint": ctx.attr.entrypoint,
            "env": ctx.attr.env,
            "excluded_error": ctx.attr.excluded_error,
            "excluded_output": ctx.attr.excluded_output,
            "exit_code": ctx.attr.exit_code,
            "expected_error": ctx.attr.expected_error,
            "expected_output": ctx.attr.expected_output,
        },
    }))
    launcher = deploy_launcher(ctx, "run-test", [
        '--spec "$runfiles/%s"' % rlocation(ctx, spec),
        '--load "$runfiles/%s"' % rlocation(ctx, load_config),
        '--test "$runfiles/%s"' % rlocation(ctx, test_config),
    ])
    runfiles = ctx.runfiles(files = [tool, spec, load_config, test_config]).merge(image.runfiles)
    return [
        DefaultInfo(executable = launcher, runfiles = runfiles),
        # The runtime's socket and the FIFOs of the container's output are
        # outside any sandbox; the runtime does not cache.
        testing.ExecutionInfo({"no-cache": "1", "no-sandbox": "1"}),
    ]

image_run_test = rule(
    implementation = _image_run_test_impl,
    doc = """Runs an image's program in a container runtime and judges what it does.

The test loads the image as image_load does, writing only the blobs the
runtime lacks (under the name `rules-img-test.local/PACKAGE/NAME:latest`),
runs one container of it, removes the container, and checks its exit code
and its standard output and error against regular expressions (Go syntax).

The runtime is the test environment's to name, so that `bazel test`
stays free of machine paths:

    bazel test //app:run_test --test_env=CONTAINERD_ADDRESS=/run/containerd/containerd.sock
    bazel test //app:run_test --test_env=DOCKER_HOST=unix:///var/run/docker.sock

`CONTAINERD_NAMESPACE` picks a containerd namespace other than `default`.
With neither variable, a test that runs as root runs the program with runc
(`$RUNC`, else found on `PATH` or in /usr/sbin) on a root file system
unpacked from the layers in its temporary directory; otherwise it fails
and says which flags to pass. For an image_index, the runtime's own
platform is run. The test runs outside the
sandbox and is never cached: its verdict depends on the runtime.""",
    attrs = {
        "image": attr.label(
            mandatory = True,
            providers = [[ImageManifestInfo], [ImageIndexInfo]],
            doc = "The image to run: image_manifest, image_index or a pulled image.",
        ),
        "entrypoint": attr.string_list(doc = "Replaces the image's entrypoint. Default: the image's."),
        "cmd": attr.string_list(doc = "Replaces the image's cmd, as the arguments after the image in " +
                                      "`docker run IMAGE ARGS...` do. Default: the image's cmd."),
        "env": attr.string_dict(doc = "Variables added to the image's environment (or replacing its own)."),
        "exit_code": attr.int(default = 0, doc = "The exit code the program must end with."),
        "expected_output": attr.string_list(doc = "Regular expressions that standard output must match."),
        "excluded_output": attr.string_list(doc = "Regular expressions that standard output must not match."),
        "expected_error": attr.string_list(doc = "Regular expressions that standard error must match."),
        "excluded_error": attr.string_list(doc = "Regular expressions that standard error must not match."),
        "_launcher": attr.label(allow_single_file = True, default = "//img/private:deploy.sh.tpl"),
    },
    test = True,
    toolchains = [_TOOLCHAIN],
)
