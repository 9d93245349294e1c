/* The short agent of bench/agents: starts and exits 0. */
int main(void)
{
    return 0;
}
