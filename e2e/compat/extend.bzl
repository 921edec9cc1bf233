"""Rules that extend rules_img's own (Bazel's rule extension API)."""

load("@rules_img//img:image.bzl", "image_index", "image_manifest")
load("@rules_img//img:layer.bzl", "image_layer")

CommentInfo = provider(doc = "A comment a team attaches to its images.", fields = {"comment": "string"})

def _with_comment(ctx):
    return ctx.super() + [CommentInfo(comment = ctx.attr.comment)]

_COMMENT = {"comment": attr.string(mandatory = True)}

commented_image_layer = rule(implementation = _with_comment, parent = image_layer, attrs = _COMMENT)

commented_image_manifest = rule(implementation = _with_comment, parent = image_manifest, attrs = _COMMENT)

# No transition attribute of its own: image_index's split transition is
# the parent's business.
commented_image_index = rule(implementation = _with_comment, parent = image_index, attrs = _COMMENT)

def _comments_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".txt")
    ctx.actions.write(out, "\n".join([t[CommentInfo].comment for t in ctx.attr.targets]) + "\n")
    return [DefaultInfo(files = depset([out]))]

comments = rule(
    implementation = _comments_impl,
    doc = "Writes the comments of the targets, one a line.",
    attrs = {"targets": attr.label_list(providers = [CommentInfo])},
)
