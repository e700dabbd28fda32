#!/usr/bin/env bash
# The shop on a local kind cluster: create the cluster (once), build the image and load it into the
# cluster, install or upgrade the chart, print the URLs. Needs docker and kind; helm comes from
# `make setup` (.venv/bin/helm). Run from anywhere:  deploy/kind/up.sh
# Environment: KIND_CLUSTER (shop), SHOP_NAMESPACE (shop), SHOP_IMAGE (shop:dev).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

cluster="${KIND_CLUSTER:-shop}"
namespace="${SHOP_NAMESPACE:-shop}"
image="${SHOP_IMAGE:-shop:dev}"
context="kind-${cluster}"

for tool in docker kind; do
    command -v "$tool" >/dev/null || { echo "up.sh: $tool is not installed" >&2; exit 1; }
done
make setup >/dev/null
helm=.venv/bin/helm

if ! kind get clusters | grep -qx "$cluster"; then
    kind create cluster --name "$cluster" --config deploy/kind/cluster.yaml
fi

docker build -f deploy/Dockerfile -t "$image" .
kind load docker-image "$image" --name "$cluster"

# The JWT key pair, made once and reused (the chart keeps what its Secret already holds).
.venv/bin/python -m deploy.keys deploy/kind/.keys >/dev/null

"$helm" upgrade --install shop charts/shop \
    --kube-context "$context" --namespace "$namespace" --create-namespace \
    -f charts/shop/values-kind.yaml \
    --set image.repository="${image%:*}" --set image.tag="${image##*:}" \
    --set-file secrets.jwtPrivateKey=deploy/kind/.keys/keys/auth_private.pem \
    --set-file secrets.jwtPublicKey=deploy/kind/.keys/keys/auth_public.pem \
    --wait --timeout 10m

password_cmd="kubectl --context $context -n $namespace get secret shop-secrets -o jsonpath='{.data.admin-password}' | base64 -d"
cat <<MSG

The shop is running on kind (cluster $cluster, namespace $namespace):
  Shop:          http://localhost:8080/
  API:           http://localhost:8080/api   (OpenAPI: http://localhost:8080/api/openapi.json)
  Card tokens:   http://localhost:8081/v1/tokens
  Admin:         admin@example.com, password: $password_cmd
Remove it with:  kind delete cluster --name $cluster
MSG
