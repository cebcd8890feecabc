// The backend API, reached through the load balancer's `/api/*` rule.

async function call(path, options = {}) {
  const response = await fetch(path, {
    headers: { "Content-Type": "application/json" },
    ...options,
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(body.error || `${response.status} ${response.statusText}`);
  }
  return body;
}

export const listProducts = () => call("/api/products");
export const listOrders = () => call("/api/orders");
export const checkout = (customer, items) =>
  call("/api/orders", { method: "POST", body: JSON.stringify({ customer, items }) });
