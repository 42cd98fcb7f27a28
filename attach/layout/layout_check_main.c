/* The layout tool's self-check: the generated python_layout_check_TAG.c
 * holds a _Static_assert per offset, size and constant (so a wrong table
 * does not even compile) and the runtime checks for what offsetof cannot
 * express: bit-fields and the pointer slots of inline accessors. */
#include <stdio.h>

int wg_layout_runtime_checks(void);

int main(void) {
  int failures = wg_layout_runtime_checks();
  if (failures != 0) {
    fprintf(stderr, "layout self-check: %d value(s) differ from the compiler's\n", failures);
    return 1;
  }
  printf("layout self-check: the table matches offsetof/sizeof from the same headers\n");
  return 0;
}
