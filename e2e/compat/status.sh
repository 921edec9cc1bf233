#!/bin/sh
# Workspace status for --config=stamp (see templating in the docs).
echo "STABLE_CONTAINER_VERSION_TAG v1.2.3"
echo "GIT_COMMIT 0123abc"
