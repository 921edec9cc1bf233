"""Documents pushed with an image: `image_sbom` (SPDX 2.3) and
`image_provenance` (SLSA provenance v1). Give them to image_push's
`attestations`; a push with a key also signs them (see image_push).

    load("@rules_img//img:attestations.bzl", "image_provenance", "image_sbom")
"""

load("//img/private:provenance.bzl", _image_provenance = "image_provenance")
load("//img/private:providers.bzl", _AttestationInfo = "AttestationInfo")
load("//img/private:sbom.bzl", _image_sbom = "image_sbom")

AttestationInfo = _AttestationInfo
image_provenance = _image_provenance
image_sbom = _image_sbom
