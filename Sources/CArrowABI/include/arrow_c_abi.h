// The Arrow C Data Interface: two plain C structs whose layout is fixed by the Arrow
// specification, so that producers (DuckDB) and consumers (our Arrow module) can hand
// columnar memory to each other without copying. Only the layout matters here.
#ifndef TAVANA_ARROW_C_ABI_H
#define TAVANA_ARROW_C_ABI_H

#include <stdint.h>

#ifndef ARROW_C_DATA_INTERFACE
#define ARROW_C_DATA_INTERFACE

#define ARROW_FLAG_DICTIONARY_ORDERED 1
#define ARROW_FLAG_NULLABLE 2
#define ARROW_FLAG_MAP_KEYS_SORTED 4

struct ArrowSchema {
  const char *format;
  const char *name;
  const char *metadata;
  int64_t flags;
  int64_t n_children;
  struct ArrowSchema **children;
  struct ArrowSchema *dictionary;
  void (*release)(struct ArrowSchema *);
  void *private_data;
};

struct ArrowArray {
  int64_t length;
  int64_t null_count;
  int64_t offset;
  int64_t n_buffers;
  int64_t n_children;
  const void **buffers;
  struct ArrowArray **children;
  struct ArrowArray *dictionary;
  void (*release)(struct ArrowArray *);
  void *private_data;
};

#endif // ARROW_C_DATA_INTERFACE

// Swift cannot call a C function pointer stored in a struct field through an
// UnsafeMutablePointer without these small trampolines being obvious; they also keep the
// "release may be NULL once released" rule in one place.
static inline void tavana_arrow_schema_release(struct ArrowSchema *schema) {
  if (schema && schema->release) schema->release(schema);
}
static inline void tavana_arrow_array_release(struct ArrowArray *array) {
  if (array && array->release) array->release(array);
}

#endif
