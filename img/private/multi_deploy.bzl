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
        entry = {
            "config": rlocation(ctx, op.config),
            "kind": op.kind,
            "label": str(target.label),
            "spec": rlocation(ctx, op.spec),
        }
        op_runfiles = op.runfiles
        if ctx.attr.strategy and op.kind == "push":
            # The plan's strategy overrides the push's own, with the
            # runfiles that strategy needs.
            entry["strategy"] = ctx.attr.strategy
            op_runfiles = getattr(op, "eager_runfiles" if ctx.attr.strategy == "eager" else "lazy_runfiles", None) or op.runfiles
        operations.append(entry)
        runfiles = runfiles.merge(op_runfiles)
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
`--daemon`, `--address`, `--namespace` and `--platform` to every load.
`strategy`, if set, is the push strategy of every push.""",
    executable = True,
    attrs = {
        "operations": attr.label_list(mandatory = True, providers = [DeployInfo], doc = "image_push or image_load targets, run in order."),
        "strategy": attr.string(
            values = ["", "eager", "lazy", "cas_registry", "bes"],
            doc = "The push strategy of every push (eager, lazy, cas_registry or bes); empty keeps each push's own.",
        ),
        "_launcher": attr.label(allow_single_file = True, default = "//img/private:deploy.sh.tpl"),
    },
    toolchains = [_TOOLCHAIN],
)
