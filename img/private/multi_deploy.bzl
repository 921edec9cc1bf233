"""The multi_deploy rule: many pushes and loads as one `bazel run`."""

load(":deploy.bzl", "deploy_launcher", "rlocation")
load(":providers.bzl", "DeployInfo")

_TOOLCHAIN = "//toolchains:toolchain_type"

def _multi_deploy_impl(ctx):
    tool = ctx.toolchains[_TOOLCHAIN].imgtool.executable
    operations = []
    runfiles = ctx.runfiles(files = [tool])
    for target in ctx.attr.operations:
        op = target[DeployInfo]
        operations.append({
            "config": rlocation(ctx, op.config),
            "kind": op.kind,
            "label": str(target.label),
            "spec": rlocation(ctx, op.spec),
        })
        runfiles = runfiles.merge(op.runfiles)
    plan = ctx.actions.declare_file(ctx.label.name + ".plan.json")
    ctx.actions.write(plan, json.encode({"operations": operations}))
    launcher = deploy_launcher(ctx, "deploy", ["--plan", '"$runfiles/%s"' % rlocation(ctx, plan)])
    return [DefaultInfo(executable = launcher, runfiles = runfiles.merge(ctx.runfiles(files = [plan])))]

multi_deploy = rule(
    implementation = _multi_deploy_impl,
    doc = """Runs several image_push (and image_load) targets as one process.

Blobs that several images share are uploaded once: later pushes find them
in the registry, or mount them from the repository that got them first.
Run-time flags (`--registry`, `--repository`, `--tag`) apply to every push;
`--daemon`, `--address`, `--namespace` and `--platform` to every load.""",
    executable = True,
    attrs = {
        "operations": attr.label_list(mandatory = True, providers = [DeployInfo], doc = "image_push or image_load targets, run in order."),
        "_launcher": attr.label(allow_single_file = True, default = "//img/private:deploy.sh.tpl"),
    },
    toolchains = [_TOOLCHAIN],
)
