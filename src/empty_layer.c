/* Placeholder translation unit for a layer that has no sources yet. */
typedef int rvs_empty_layer_t;
