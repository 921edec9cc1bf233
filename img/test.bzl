"""Image tests: `image_structure_test` checks an image against
container-structure-test configs without a container runtime;
`image_run_test` runs its program in containerd or Docker and judges what
it does.

    load("@rules_img//img:test.bzl", "image_run_test", "image_structure_test")
"""

load("//img/private:run_test.bzl", _image_run_test = "image_run_test")
load("//img/private:structure_test.bzl", _image_structure_test = "image_structure_test")

image_run_test = _image_run_test
image_structure_test = _image_structure_test
