/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * snap_tree: deep recursion that prints from inside its recursion, so
 * that a snapshot taken at almost any point holds many frames and a
 * partly written stdout buffer.  It builds and walks binary trees
 * recursively, then computes Ackermann numbers, and exits with
 * SNAP_TREE_EXIT so that a runner can check the exit status survives.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define SNAP_TREE_EXIT 3
#define TREE_DEPTH 13
#define TREE_PRINT_DEPTH 9 /* print each subtree this deep down */
#define TREE_ROUNDS 3

struct node {
    struct node *l, *r;
    uint32_t v;
};

static struct node *
build(int depth, uint32_t seed)
{
    struct node *n = malloc(sizeof(*n));

    if (n == NULL) {
        fprintf(stderr, "snap_tree: out of memory\n");
        exit(1);
    }
    n->v = seed * 2654435761u + (uint32_t)depth;
    n->l = depth > 0 ? build(depth - 1, n->v ^ 0x9e3779b9u) : NULL;
    n->r = depth > 0 ? build(depth - 1, n->v + 0x7f4a7c15u) : NULL;
    return n;
}

/* Hash the subtree; print from deep inside the recursion. */
static uint32_t
walk(const struct node *n, int level, uint32_t path)
{
    uint32_t h;

    if (n == NULL)
        return 0x811c9dc5u;
    h = (walk(n->l, level + 1, path * 2) * 16777619u) ^ n->v;
    h = (h * 31u) + walk(n->r, level + 1, path * 2 + 1);
    if (level == TREE_PRINT_DEPTH && (path & 7) == 0)
        printf("  node %u/%u: %08x\n", (unsigned)level, (unsigned)path,
               (unsigned)h);
    return h;
}

static void
release(struct node *n)
{
    if (n == NULL)
        return;
    release(n->l);
    release(n->r);
    free(n);
}

static uint32_t
ack(uint32_t m, uint32_t n)
{
    if (m == 0)
        return n + 1;
    if (n == 0)
        return ack(m - 1, 1);
    return ack(m - 1, ack(m, n - 1));
}

int
main(void)
{
    struct node *t;
    uint32_t r, m, n;

    for (r = 0; r < TREE_ROUNDS; r++) {
        printf("tree %u:\n", (unsigned)r);
        t = build(TREE_DEPTH, r + 1);
        printf("tree %u hash %08x\n", (unsigned)r, (unsigned)walk(t, 0, 0));
        release(t);
    }
    for (m = 0; m <= 3; m++)
        for (n = 0; n <= (m < 3 ? 6u : 5u); n++)
            printf("ack(%u, %u) = %u\n", (unsigned)m, (unsigned)n,
                   (unsigned)ack(m, n));
    return SNAP_TREE_EXIT;
}
