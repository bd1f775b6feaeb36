"""Networks: TPS warper, U-Net generator, multi-scale discriminator, shared blocks."""
