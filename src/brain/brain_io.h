/* A brain wired to the robot sockets (brain_robot.h): sensory frames become the default brain's
 * staged input for its next burst, and each burst's fired output voxels go out as a motor frame.
 * The loop and the burst thread meet under the brain's mutex: the loop fills the inbox and
 * publishes motor frames, the burst thread stages the inbox and fills the motor ring. */
#ifndef GANGLION_BRAIN_IO_H
#define GANGLION_BRAIN_IO_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "brain/brain_fbc.h"

struct brain;
struct brain_reg;

/* Robot hooks (loop thread; ctx is the registry, hub->brain). A valid sensory frame replaces
 * the agent's previous frame in the default brain's inbox (returns 1 when one was waiting);
 * an agent that leaves takes its frame with it. */
int brain_io_sensory(void *ctx, const uint8_t agent_id[BRAIN_FBC_ID_LEN], uint16_t counter,
                     const brain_fbc_frame_t *frame);
void brain_io_agent(void *ctx, const uint8_t agent_id[BRAIN_FBC_ID_LEN], bool registered);

/* Burst thread, holding b->mu, right before a burst: stages every agent's latest frame. */
void brain_io_stage_locked(struct brain *b);

/* Burst thread, after a burst (not holding b->mu): the output areas' fired voxels become the
 * burst's motor frame, handed to the loop under b->mu. Nothing when the robot sockets are off. */
void brain_io_motor_collect(struct brain *b, uint64_t burst);

/* Loop, after the burst thread woke it: publishes the default brain's pending motor frames. */
void brain_io_motor_flush(struct brain_reg *r, struct brain *b);

/* Loop: the robot answer latencies of the last 4 096 stimuli answered by a motor frame of a
 * later burst — from the frame's arrival (read off the PULL socket), from the start of the burst
 * that injected it, and from the end of the burst that answered — as p50/p99/max in ms, with the
 * counts of answers and of those that left in the burst right after the injecting one. New. */
json_t *brain_io_latency_json(struct brain *b);
/* Frees the brain's inbox and motor frames (its thread stopped). */
void brain_io_free(struct brain *b);

#endif
