"""Image tests: `image_structure_test` checks an image against
container-structure-test configs, without a container runtime.

    load("@rules_img//img:test.bzl", "image_structure_test")
"""

load("//img/private:structure_test.bzl", _image_structure_test = "image_structure_test")

image_structure_test = _image_structure_test
